"""One figure and table style for the whole kit.

Figures: titles, labelled axes with units, a colour-blind-safe palette, and alternative text
(``finish(ax, alt=...)``) that travels with the figure into the notebook's saved output
(``metadata["image/png"]["alt"]``) and from there into the book's ``<img alt>``.
Tables whose text is the point (data cards, identifier lists, legal tables): ``full_table``,
which shows every character of every cell, wrapped, never cut at 50 characters.
"""

from __future__ import annotations

import html
import sys

import matplotlib as mpl
import matplotlib.pyplot as plt
import pandas as pd

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
    """Set matplotlib defaults for every figure of the kit (call once per notebook).

    In a Jupyter kernel it also makes every figure's saved output carry its alt text (see
    :func:`describe`): the PNG formatter returns ``(png, {"alt": ...})`` and the plain-text
    form of the figure is its description.
    """
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
    _show_alt_text_in_outputs()


def _kernel_shell():
    """The running IPython shell when this is a Jupyter kernel, else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _show_alt_text_in_outputs() -> None:
    """Wrap the kernel's figure formatters so each output carries the figure's alt text."""
    shell = _kernel_shell()
    if shell is None:
        return
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters["image/png"]
    if Figure not in png.type_printers:
        # The inline backend registers its PNG formatter when it first loads, replacing any
        # registered before; load it now (no figure is open yet), then wrap what it set.
        plt.switch_backend(mpl.rcParams["backend"])
    inline = png.type_printers.get(Figure)
    if inline is None or getattr(inline, "kit_alt", False):
        return

    def png_with_alt(fig):
        data = inline(fig)
        alt = alt_text(fig)
        if data is None or alt is None:
            return data
        if isinstance(data, tuple):
            data, metadata = data
            return data, {**metadata, "alt": alt}
        return data, {"alt": alt}

    def plain_with_alt(fig, printer, cycle):
        printer.text(alt_text(fig) or repr(fig))

    png_with_alt.kit_alt = True
    png.for_type(Figure, png_with_alt)
    shell.display_formatter.formatters["text/plain"].for_type(Figure, plain_with_alt)


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


class FullTable:
    """A table shown whole: every row, every column, every character of every cell.

    Made by :func:`full_table`. In Jupyter and the book it renders as an HTML table whose
    long cells wrap (class ``kit-full-table``; links are clickable); as text it is the
    complete ``to_string()``. ``.frame`` is the DataFrame itself.
    """

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame = frame
        self.caption = caption

    def _repr_html_(self) -> str:
        with pd.option_context("display.max_colwidth", None):
            table = self.frame.to_html(
                max_rows=None,
                max_cols=None,
                render_links=True,
                escape=True,
                classes="kit-full-table",
                border=0,
            )
        if self.caption:
            table = table.replace(">", f"><caption>{html.escape(self.caption)}</caption>", 1)
        return table

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None, "display.width", 10_000):
            text = self.frame.to_string(max_rows=None, max_cols=None)
        return f"{self.caption}\n{text}" if self.caption else text


def full_table(frame, caption: str | None = None) -> FullTable:
    """Show a table whose text is the point (a data card, an identifier list, a legal table)
    in full: no cell cut at 50 characters, no rows or columns elided; long text wraps.

    Returns a displayable object (put it last in a cell, or pass it to ``display``). A Series
    is shown as a one-column table.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame or Series; got {type(frame).__name__}")
    if caption is not None and not isinstance(caption, str):
        raise TypeError(f"caption must be a string or None; got {caption!r}")
    return FullTable(frame, caption)
