"""The explorers behind helpers.widgets, one module per explorer on a shared base.

    base          widget-or-figure detection, the Explorer class, control labels
    augmentation  augmentation_explorer (notebook 02)
    predictions   prediction_browser (notebooks 03 and 05)
    fine_tuning   fine_tuning_explorer (notebook 05)
    photo         photo_explorer (notebook 06)

Notebooks and tests import `helpers.widgets`, which re-exports them; nothing here
imports helpers.widgets.
"""
