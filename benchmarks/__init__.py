"""Speed and accuracy of the course, measured on one machine in one run.

    python -m benchmarks                 # full: 3 seeds, the course's epochs (config), the notebooks
    python -m benchmarks --quick         # smoke test: 1 seed, 3 + 2 epochs
    python -m benchmarks --skip-course   # leave out the solution notebooks

Every measurement runs in a fresh Python process (`benchmarks.child`):

bounds          before the first seed and after each: `compute_bound_img_s`:
                MobileNetV2 (no top, 160 px, batch 32) forward passes per
                second on decoded images in memory;
                `compute_bound_finetune_img_s`: images per second through a full
                train step of the course's model configured for fine-tuning.
training_run    once per seed, the course's own pipeline and model, built with
                `helpers.reference` the way notebooks 04 and 05 build them:
                epoch wall times (validation included) and histories.
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
  threshold-0 accuracy on the logit (`reference.logit_accuracy`), per seed and mean.
- `peak_rss_mb`: the peak, over time, of the summed resident memory of the
  course runner and all its child processes (the kernels), polled every 0.2 s.
- `grader_max_s`: the slowest call of any check, the learner's function excluded.
"""
