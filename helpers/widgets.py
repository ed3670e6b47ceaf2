"""Interactive explorers (ipywidgets), with a static picture when no front end can show them.

Four explorers, each a function that returns either a widget or a Figure:

    augmentation_explorer(images)                              notebook 02
    prediction_browser(images, labels, probabilities, ...)     notebooks 03 and 05
    fine_tuning_explorer(base_model)                           notebook 05
    photo_explorer(keras_model, litert_model, path=None)       notebook 06

Where widgets render (a kernel that JupyterLab or Jupyter Notebook started),
they return an explorer: an `ipywidgets.VBox` whose controls and current
picture are attributes, so tests can drive it like a learner would. Elsewhere
(nbval, nbconvert, nbclient, a terminal) they return a static
`matplotlib.figure.Figure` of the explorer's first state instead of printing a
widget's repr. `has_widget_frontend()` decides; set the environment variable
`ALPACA_WIDGETS` to `interactive` or `static` (or pass `interactive=`) to force
either mode.

Stable under nbval: the static figure's text form `<Figure size WxH with N Axes>`
depends only on the inputs' sizes; an explorer's text form is its class name
only (its widget view and PNG are not compared by nbval).

The code lives in helpers/explorers/ (base, augmentation, predictions, fine_tuning,
photo); this module re-exports it, so `from helpers import widgets` is all a notebook
or a test needs. To change a private helper's behaviour in a test, patch it in the
explorers module that calls it (e.g. `helpers.explorers.base`).
"""

from __future__ import annotations

from helpers.explorers.augmentation import (
    MAX_ROTATION_FACTOR,
    ROTATION_STEP,
    AugmentationExplorer,
    AugmenterFactory,
    augmentation_explorer,
    make_augmenter,
)
from helpers.explorers.augmentation import _augmentation_view as _augmentation_view
from helpers.explorers.base import (
    MODE_AUTO,
    MODE_INTERACTIVE,
    MODE_STATIC,
    WIDGET_DPI,
    Explorer,
    figure_png,
    has_widget_frontend,
    widget_mode,
)
from helpers.explorers.base import _as_image_batch as _as_image_batch
from helpers.explorers.base import _label as _label
from helpers.explorers.base import _started_by_jupyter_server as _started_by_jupyter_server
from helpers.explorers.base import _use_widgets as _use_widgets
from helpers.explorers.fine_tuning import (
    FineTuneSummary,
    FineTuningExplorer,
    find_base,
    fine_tuning_explorer,
    fine_tuning_summary,
)
from helpers.explorers.fine_tuning import _fine_tuning_view as _fine_tuning_view
from helpers.explorers.photo import (
    PhotoExplorer,
    PhotoResult,
    photo_explorer,
    photo_heatmap,
    predict_photo,
    predicted_probability,
    read_photo_file,
)
from helpers.explorers.photo import _message_figure as _message_figure
from helpers.explorers.predictions import GALLERY_SIZE, PredictionBrowser, prediction_browser

__all__ = [
    "GALLERY_SIZE",
    "MAX_ROTATION_FACTOR",
    "MODE_AUTO",
    "MODE_INTERACTIVE",
    "MODE_STATIC",
    "ROTATION_STEP",
    "WIDGET_DPI",
    "AugmentationExplorer",
    "AugmenterFactory",
    "Explorer",
    "FineTuneSummary",
    "FineTuningExplorer",
    "PhotoExplorer",
    "PhotoResult",
    "PredictionBrowser",
    "augmentation_explorer",
    "figure_png",
    "find_base",
    "fine_tuning_explorer",
    "fine_tuning_summary",
    "has_widget_frontend",
    "make_augmenter",
    "photo_explorer",
    "photo_heatmap",
    "predict_photo",
    "predicted_probability",
    "prediction_browser",
    "read_photo_file",
    "widget_mode",
]
