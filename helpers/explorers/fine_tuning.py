"""The fine-tuning explorer (notebook 05): what each `fine_tune_at` would unfreeze in the base."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from helpers import config, model_facts, plots
from helpers.explorers.base import Explorer, _label, _use_widgets
from helpers.model_facts import block_name, trainable_parameter_count


@dataclass(frozen=True)
class FineTuneSummary:
    """What `fine_tune_at` unfreezes: layers from that index on, their parameters and blocks."""

    fine_tune_at: int
    total_layers: int
    trainable_layers: int
    trainable_params: int
    unfreezable_params: int  # trained if the whole base were unfrozen
    total_params: int  # including BatchNorm statistics, as model.count_params() says
    first_trainable_layer: str | None
    full_blocks: tuple[str, ...]
    partial_blocks: tuple[tuple[str, int, int], ...]  # (block, trainable layers, layers)

    def lines(self) -> list[str]:
        """The summary as a few lines of text."""
        first = self.first_trainable_layer or "none"
        share = self.trainable_params / max(self.unfreezable_params, 1)
        partial = [f"{name} ({done} of {size} layers)" for name, done, size in self.partial_blocks]
        return [
            f"fine_tune_at = {self.fine_tune_at}: {self.trainable_layers} of {self.total_layers} "
            f"layers trainable, from {first}",
            f"trainable parameters: {self.trainable_params:,} of {self.unfreezable_params:,} "
            f"({share:.0%}; with the BatchNorm statistics, which fit updates without "
            f"gradients: {self.total_params:,} in all)",
            "trainable blocks: " + (", ".join(partial + list(self.full_blocks)) or "none"),
        ]


def find_base(model: Any) -> Any:
    """The MobileNetV2 base: the one inside the learner's model, else the model itself."""
    return model_facts.find_base_model(model) or model


def fine_tuning_summary(base_model: Any, fine_tune_at: int) -> FineTuneSummary:
    """What unfreezing `base_model.layers[fine_tune_at:]` trains; reads weights, changes no flag."""
    layers = list(find_base(base_model).layers)
    fine_tune_at = max(0, min(fine_tune_at, len(layers)))
    counts = [trainable_parameter_count(layer) for layer in layers]
    blocks: dict[str, list[bool]] = {}
    for index, layer in enumerate(layers):
        blocks.setdefault(block_name(layer.name), []).append(index >= fine_tune_at)
    full = tuple(name for name, flags in blocks.items() if all(flags))
    partial = tuple(
        (name, sum(flags), len(flags))
        for name, flags in blocks.items()
        if any(flags) and not all(flags)
    )
    return FineTuneSummary(
        fine_tune_at=fine_tune_at,
        total_layers=len(layers),
        trainable_layers=len(layers) - fine_tune_at,
        trainable_params=sum(counts[fine_tune_at:]),
        unfreezable_params=sum(counts),
        total_params=sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights),
        first_trainable_layer=layers[fine_tune_at].name if fine_tune_at < len(layers) else None,
        full_blocks=full,
        partial_blocks=partial,
    )


def _fine_tuning_view(
    base_model: Any, fine_tune_at: int, titled: bool
) -> tuple[FineTuneSummary, Figure, list[str]]:
    """The summary, its bar chart and its text for one value of `fine_tune_at`.

    `titled` puts the first line of the summary above the chart; the widget shows it as text.
    """
    summary = fine_tuning_summary(base_model, fine_tune_at)
    counts = [trainable_parameter_count(layer) for layer in find_base(base_model).layers]
    lines = summary.lines()
    figure = plots.plot_trainable_layers(counts, summary.fine_tune_at, lines[0] if titled else None)
    return summary, figure, lines


class FineTuningExplorer(Explorer):
    """A `fine_tune_at` slider: how many layers and parameters of the base would train.

    It only reads the model; the model's `trainable` flags are never touched.
    Attributes for tests: `fine_tune_slider`, `summary` (a FineTuneSummary),
    `picture`, `figure`, `text`.
    """

    def __init__(self, base_model: Any) -> None:
        self.base_model = find_base(base_model)
        layer_count = len(self.base_model.layers)
        self.fine_tune_slider = _label(
            ipywidgets.IntSlider(
                value=min(config.FINE_TUNE_AT, layer_count),
                min=0,
                max=layer_count,
                description="fine_tune_at",
                continuous_update=False,
                style={"description_width": "initial"},
                layout=ipywidgets.Layout(width="60%"),
            ),
            "alpaca-fine-tune-slider",
        )
        super().__init__([self.fine_tune_slider], "alpaca-fine-tuning-explorer")
        self.fine_tune_slider.observe(lambda _change: self.render(), names="value")
        self.render()

    def render(self) -> None:
        """Recount for the slider's value and redraw."""
        self.summary, figure, lines = _fine_tuning_view(
            self.base_model, self.fine_tune_slider.value, titled=False
        )
        self._show(figure, lines)


def fine_tuning_explorer(
    base_model: Any, *, interactive: bool | None = None
) -> FineTuningExplorer | Figure:
    """Notebook 05: see what each `fine_tune_at` would unfreeze (the base or the whole model).

    Without a widget front end: the bar chart at the course's FINE_TUNE_AT.
    """
    if _use_widgets(interactive):
        return FineTuningExplorer(base_model)
    layer_count = len(find_base(base_model).layers)
    _summary, figure, _lines = _fine_tuning_view(
        base_model, min(config.FINE_TUNE_AT, layer_count), titled=True
    )
    return figure
