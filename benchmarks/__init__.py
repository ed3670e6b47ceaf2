"""Speed and accuracy of the course, measured on one machine in one run.

    python -m benchmarks                 # full: 5-fold CV x 3 seeds, one 80/20 run, the notebooks
    python -m benchmarks --quick         # smoke test: 2-fold CV x 1 seed, 3 + 2 epochs (not comparable)
    python -m benchmarks --skip-course   # leave out the solution notebooks

Every measurement runs in a fresh Python process (`benchmarks.child`):

bounds          before the first seed and after each: `compute_bound_img_s`:
                MobileNetV2 (no top, 160 px, batch 32) forward passes per
                second on decoded images in memory;
                `compute_bound_finetune_img_s`: images per second through a full
                train step of the course's model configured for fine-tuning.
training_run    once (seed 42, the notebooks' 80/20 split), the course's own
                pipeline and model, built with `helpers.reference` the way
                notebooks 04 and 05 build them: epoch wall times (validation
                included) and histories.
cross_validation  once per seed of CV_SEEDS (42, 43, 44): stratified 5-fold
                cross-validation over all 327 images with the course's
                pipeline and model (each image held out once per seed); every
                arm's held-out logit per image. Then once more, seed 42, folds
                0 and 1 only, for the weights=None baseline (SCRATCH_EPOCHS).
                benchmarks/cv_figures.py turns them into the `*_cv_*` keys.
grader_timing   each grader check on the course's answers (helpers/answers.py), learner's
                time left out.
course          the solution notebooks (all six) executed headless, end to end,
                with the peak resident memory of the runner and its kernels.

Definitions (see benchmarks/report.py):
- `phase1_epoch_s`, `finetune_epoch_s`: median epoch time over all seeds,
  leaving out the first epoch of each phase (it decodes the JPEGs and traces
  the step functions; reported as `*_first_epoch_s`).
- The limits are measured before the first training run and after each one;
  each seed's ratios use the faster of the two measurements next to it in
  time, and the reported ratio is the median over seeds:
- `phase1_over_bound` = a seed's median epoch / ((train + validation images) / compute_bound_img_s):
  with the base frozen, every image of the epoch costs one forward pass at best.
- `finetune_over_bound` = a seed's median epoch /
  (train images / compute_bound_finetune_img_s + validation images / compute_bound_img_s).
- `phase1_floor_over_bound` (not a target): the phase-1 bound with a full phase-1
  train step (augmentation included) in place of the forward pass, over the bound.
- `val_acc_*`: the last epoch's validation accuracy of each phase with a
  threshold-0 accuracy on the logit (`reference.logit_accuracy`), on the 65
  validation images of the 80/20 split (no target: too few images to judge).
- `val_acc_cv_<arm>_mean`, `val_acc_cv_<arm>_ci95` ([low, high]): the fraction
  of right held-out predictions over all images and CV seeds, and its 95 %
  percentile bootstrap interval over images (benchmarks/cv_stats.py). Arms:
  majority, scratch, probe, head_no_aug, phase1 (the course's head), control,
  bn_adapting, bn_frozen, final (the course's fine-tuned model, whichever of
  the two BatchNorm arms config.FREEZE_BATCHNORM_IN_FINE_TUNING picks).
- paired differences, each with `_ci95`, same images, folds and seeds:
  `fine_tuning_gain_cv` (final - control), `batchnorm_frozen_gain_cv`
  (bn_frozen - bn_adapting), `augmentation_gain_cv` (phase1 - head_no_aug),
  `head_vs_probe_cv` (phase1 - probe), `final_vs_probe_cv`,
  `final_vs_scratch_cv` (on the scratch baseline's images only).
- `cv_detail`: per arm, the accuracy per seed and per fold and the
  Nadeau-Bengio corrected t-interval; per difference, how many predictions
  each arm got right where the other was wrong. `cv_plan`: folds, seeds, epochs.
- `peak_rss_mb`: the peak, over time, of the summed resident memory of the
  course runner and all its child processes (the kernels), polled every 0.2 s.
- `grader_max_s`: the slowest call of any check, the learner's function excluded.
"""
