"""One figure and table style for the whole kit.

Figures: titles, labelled axes with units, a colour-blind-safe palette, and alternative text
(``finish(ax, alt=...)``) that travels with the figure into the notebook's saved output
(``metadata["image/png"]["alt"]``) and from there into the book's ``<img alt>``.
Tables whose text is the point (data cards, identifier lists, legal tables): ``full_table``,
which shows every character of every cell, wrapped, never cut at 50 characters, with its
styling inline so that JupyterLab and the book show it alike.
"""

from __future__ import annotations

import html
import re
import sys
from urllib.parse import urlsplit

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


#: A URL inside a table cell (trailing punctuation belongs to the sentence, not the link).
_URL = re.compile(r"https?://[^\s<>\"']+")
#: The width a wide table is shared out over, in characters of its text (about 1,100 px of
#: table text in JupyterLab or the book at a 1280 px window): columns get shares of it.
_NOMINAL_CHARS = 130
#: No column is narrowed below its longest word, up to this many characters (longer words
#: wrap anywhere).
_LONGEST_WORD_KEPT = 20


def _cell_style(align: str, vertical: str = "top") -> str:
    """The inline style of one table cell (inline, because JupyterLab keeps inline styles of
    a saved output but drops its ``<style>`` elements)."""
    return (
        f"text-align:{align};vertical-align:{vertical};white-space:normal;overflow-wrap:break-word"
    )


def _link_label(url: str) -> list[str]:
    """A short label for a link: its host without ``www.``, in pieces that may wrap after a dot."""
    host = urlsplit(url).netloc.removeprefix("www.") or url
    pieces = host.split(".")
    return [piece + "." for piece in pieces[:-1]] + pieces[-1:]


def _cell_html(text: str) -> tuple[str, str]:
    """A cell's text as HTML, each URL a link labelled by its host (the full address is the
    link's target and its tooltip), and the text as shown (for sizing the column)."""
    html_parts, shown_parts, last = [], [], 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        before = text[last : match.start()]
        pieces = _link_label(url)
        address = html.escape(url, quote=True)
        html_parts += [
            html.escape(before, quote=False),
            f'<a href="{address}" title="{address}" target="_blank" rel="noopener">'
            + "<wbr>".join(html.escape(p, quote=False) for p in pieces)
            + "</a>",
        ]
        shown_parts += [before, " ".join(pieces)]
        last = match.start() + len(url)
    html_parts.append(html.escape(text[last:], quote=False))
    shown_parts.append(text[last:])
    return "".join(html_parts), "".join(shown_parts)


def _column_texts(values: pd.Series) -> list[str]:
    """The cells of one column as pandas would print them (numbers, dates) or as their text."""
    types = pd.api.types
    if not (
        types.is_numeric_dtype(values)
        or types.is_datetime64_any_dtype(values)
        or types.is_timedelta64_dtype(values)
    ):
        return ["NaN" if types.is_scalar(v) and pd.isna(v) else str(v) for v in values]
    printed = values.reset_index(drop=True).to_frame().to_string(header=False, index=False)
    return [line.strip() for line in printed.splitlines()] if len(values) else []


def _column_shares(shown: list[list[str]]) -> list[float] | None:
    """Shares of the table's width for each column (header first in each list), or None for a
    table narrow enough to size itself.

    Each column's share follows its mean text length, so a long column's rows are not the
    tallest; no column is made narrower than its longest word (up to ``_LONGEST_WORD_KEPT``
    characters) or wider than its longest cell."""
    longest = [max(len(t) for t in texts) + 2 for texts in shown]
    if sum(longest) <= _NOMINAL_CHARS:
        return None
    floor = [
        min(max((len(w) for t in texts for w in t.split()), default=1), _LONGEST_WORD_KEPT) + 2
        for texts in shown
    ]
    weight = [sum(len(t) for t in texts[1:]) / max(len(texts) - 1, 1) + 2 for texts in shown]
    shares, fixed = [0.0] * len(shown), {}
    while True:  # water-filling: fix the columns held at their floor or ceiling, share the rest
        free = [j for j in range(len(shown)) if j not in fixed]
        if not free:
            break
        left = max(1.0 - sum(fixed.values()), 0.0)
        total = sum(weight[j] for j in free)
        changed = False
        for j in free:
            share = left * weight[j] / total
            low, high = floor[j] / _NOMINAL_CHARS, max(longest[j], floor[j]) / _NOMINAL_CHARS
            if share < low or share > high:
                fixed[j] = low if share < low else high
                changed = True
            shares[j] = share
        if not changed:
            break
    for j, share in fixed.items():
        shares[j] = share
    scale = sum(shares)
    return [s / scale for s in shares]


class FullTable:
    """A table shown whole: every row, every column, every character of every cell.

    Made by :func:`full_table`. In Jupyter and the book it renders as an HTML table (class
    ``kit-full-table``) styled inline, so it reads the same in JupyterLab, in a saved
    notebook and in the book: text left-aligned and wrapped, numbers right-aligned, cells
    aligned at the top, and, in a wide table, column widths that follow how much each column
    says. A URL shows as a link labelled with its host (the full address is the target and
    the tooltip). As text it is the complete ``to_string()``. ``.frame`` is the DataFrame.
    """

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame = frame
        self.caption = caption

    def _repr_html_(self) -> str:
        frame = self.frame
        columns = [pd.Series(frame.index.get_level_values(i)) for i in range(frame.index.nlevels)]
        columns += [frame.iloc[:, j] for j in range(frame.shape[1])]
        headers = ["" if n is None else str(n) for n in frame.index.names]
        headers += [
            " / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns
        ]
        n_index = len(frame.index.names)
        numeric = [
            pd.api.types.is_numeric_dtype(c) and not pd.api.types.is_bool_dtype(c) for c in columns
        ]
        header_cells = [_cell_html(h) for h in headers]
        cells = [[_cell_html(t) for t in _column_texts(c)] for c in columns]
        shown = [[h[1]] + [s for _, s in col] for h, col in zip(header_cells, cells, strict=True)]
        shares = _column_shares(shown)
        layout = "auto;width:auto" if shares is None else "fixed;width:100%"
        out = [
            '<div style="overflow-x:auto;max-width:100%">',
            f'<table class="dataframe kit-full-table" style="table-layout:{layout};'
            'border-collapse:collapse;margin-left:0">',
        ]
        if self.caption:
            out.append(
                '<caption style="caption-side:top;text-align:left">'
                f"{html.escape(self.caption, quote=False)}</caption>"
            )
        if shares is not None:
            out.append(
                "<colgroup>"
                + "".join(f'<col style="width:{100 * s:.1f}%">' for s in shares)
                + "</colgroup>"
            )
        align = ["right" if n else "left" for n in numeric]
        out.append("<thead><tr>")
        for j, (header, _) in enumerate(header_cells):
            out.append(f'<th style="{_cell_style(align[j], "bottom")}">{header}</th>')
        out.append("</tr></thead><tbody>")
        for i in range(len(frame)):
            out.append("<tr>")
            for j, column in enumerate(cells):
                tag = "th" if j < n_index else "td"
                out.append(f'<{tag} style="{_cell_style(align[j])}">{column[i][0]}</{tag}>')
            out.append("</tr>")
        out.append("</tbody></table></div>")
        return "".join(out)

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
