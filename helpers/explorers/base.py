"""What every explorer shares: widget-or-figure detection, the `Explorer` base class, labels.

`has_widget_frontend()` decides whether explorers are widgets (see helpers/widgets.py);
`Explorer` lays out controls, text and picture; `_label` tags a control for browser tests.
Imports nothing else of the explorers, so each explorer module builds on it alone.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from helpers import colab, config, plots, runtime

MODE_INTERACTIVE = "interactive"
MODE_STATIC = "static"
MODE_AUTO = "auto"
# Resolution of the pictures inside widgets: sharp enough, quick to encode on 2 cores.
WIDGET_DPI = 80


# --- Is there a front end that renders widgets? ---


def widget_mode() -> str:
    """`interactive`, `static` or `auto`, from $ALPACA_WIDGETS (unknown values mean auto)."""
    mode = os.environ.get(config.ENV_WIDGETS_MODE, MODE_AUTO).strip().lower()
    return mode if mode in (MODE_INTERACTIVE, MODE_STATIC) else MODE_AUTO


def _started_by_jupyter_server() -> bool:
    """True in a kernel that a Jupyter server (JupyterLab, Notebook 7) started for a notebook.

    Such a server sets JPY_SESSION_NAME in the kernel's environment, and its
    front ends render widgets. nbval, nbclient and nbconvert start kernels
    without a server, and a terminal has no kernel at all.
    """
    shell = runtime.ipython_shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return "JPY_SESSION_NAME" in os.environ


def has_widget_frontend(mode: str | None = None) -> bool:
    """Whether explorers should be widgets: `mode` or $ALPACA_WIDGETS first, else detection.

    On Colab the explorers (ipywidgets 8) render only with Colab's custom widget
    manager, which `helpers.setup_notebook()` turns on there.
    """
    mode = (mode or widget_mode()).lower()
    if mode == MODE_INTERACTIVE:
        return True
    if mode == MODE_STATIC:
        return False
    if colab.running_on_colab():
        return colab.custom_widget_manager_enabled()
    return _started_by_jupyter_server()


def _use_widgets(interactive: bool | None) -> bool:
    """An explicit `interactive=` argument wins over the environment and detection.

    On Colab without the custom widget manager, the learner is told why they get a
    static picture and how to get the widget.
    """
    if interactive is not None:
        return bool(interactive)
    use = has_widget_frontend()
    if not use and widget_mode() == MODE_AUTO and colab.running_on_colab():
        print(colab.WIDGET_MANAGER_NOTE)
    return use


def figure_png(figure: Figure, dpi: int = WIDGET_DPI) -> bytes:
    """The figure as PNG bytes, for an `ipywidgets.Image`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# --- What the explorers have in common ---


class Explorer(ipywidgets.VBox):
    """Controls on top, a line or two of text, then the picture.

    `figure` is the last Figure drawn, `picture` the `ipywidgets.Image` that
    shows it and `text` the plain text shown above it.
    """

    def __init__(self, controls: Sequence[ipywidgets.Widget], css_class: str) -> None:
        self.picture = ipywidgets.Image(format="png")
        self.picture.add_class("alpaca-picture")
        self.info = ipywidgets.HTML()
        self.figure: Figure | None = None
        self.text = ""
        row = ipywidgets.HBox(list(controls), layout=ipywidgets.Layout(flex_flow="row wrap"))
        super().__init__([row, self.info, self.picture])
        self.add_class("alpaca-explorer")
        self.add_class(css_class)

    def _show(self, figure: Figure | None, lines: Sequence[str]) -> None:
        """Display a new figure (None hides the picture) and its text."""
        self.figure = figure
        self.text = "\n".join(lines)
        self.info.value = "<br>".join(html.escape(line) for line in lines)
        self.picture.value = figure_png(figure) if figure is not None else b""
        self.picture.layout.display = None if figure is not None else "none"
        if figure is not None:
            # Show the PNG at its own size: the front end would otherwise stretch it, blurred.
            self.picture.width = str(round(figure.get_figwidth() * WIDGET_DPI))

    def __repr__(self) -> str:
        # Short and free of values, so the text/plain output is the same on every run.
        return (
            f"{type(self).__name__} (an interactive explorer; it shows as a widget in JupyterLab)"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view plus the current picture, which viewers without widgets show instead."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None and self.picture.value:
            bundle["image/png"] = base64.b64encode(self.picture.value).decode("ascii")
        return bundle


def _label(control: ipywidgets.Widget, css_class: str) -> ipywidgets.Widget:
    """Tag a control with a CSS class, so a browser test can find it."""
    control.add_class(css_class)
    return control


def _as_image_batch(images: Any) -> np.ndarray:
    """(N, H, W, 3) float32, also from a single (H, W, 3) image."""
    array = plots.to_numpy(images).astype("float32")
    return array[np.newaxis] if array.ndim == 3 else array
