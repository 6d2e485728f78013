"""One figure style for the whole kit: titles, labelled axes with units, a colour-blind-safe palette."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

#: Okabe & Ito's colour-blind-safe palette (Color Universal Design, 2008), black last.
PALETTE = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
]


def use_kit_style() -> None:
    """Set matplotlib defaults for every figure of the kit (call once per notebook)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.labelsize": 11,
            "legend.frameon": False,
            "font.size": 10,
        }
    )


def new_figure(title: str, xlabel: str, ylabel: str, ax=None, **subplots_kw):
    """Return (fig, ax) with the title and both axis labels set; labels should carry units.

    Raises ValueError when a title or label is empty, so no figure of the kit lacks one.
    """
    for name, text in (("title", title), ("xlabel", xlabel), ("ylabel", ylabel)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} must be a non-empty string; got {text!r}")
    if ax is None:
        fig, ax = plt.subplots(**subplots_kw)
    else:
        fig = ax.figure
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, ax


def describe(fig, alt: str):
    """Attach alternative text to a figure: what it shows, in a sentence or two, for readers
    who cannot see it (screen readers, the book's ``alt`` attribute). Returns the figure."""
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(f"alt must be a non-empty description of the figure; got {alt!r}")
    fig.kit_alt = alt.strip()
    return fig


def alt_text(fig) -> str | None:
    """The alternative text attached by :func:`describe` (or ``finish(..., alt=...)``), if any."""
    return getattr(fig, "kit_alt", None)


def finish(ax, legend: bool = True, legend_title: str | None = None, alt: str | None = None):
    """Add the legend (when any artist has a label), tighten the layout, attach ``alt`` text.

    ``alt`` describes what the figure shows (see :func:`describe`); every figure of the kit
    has one. For a figure of several panels give it once, on the last panel finished.
    """
    handles, labels = ax.get_legend_handles_labels()
    if legend and labels:
        ax.legend(title=legend_title)
    ax.figure.tight_layout()
    if alt is not None:
        describe(ax.figure, alt)
    return ax
