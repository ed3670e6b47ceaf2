"""The exercise-specific grader rules, one module per exercise.

`helpers.graders` holds the public checks (one `check_*` per exercise); each
check calls the rules of its exercise, kept here so that the checks read in
one sitting. A rule takes what it inspects and a `Findings`, and adds one
stable code and one message per problem; it never raises for a learner's
mistake and never changes the learner's objects.

    datasets       exercise 1: the two datasets, apart and together
    augmentation   exercise 2: the augmentation layers and what they do
    alpaca_model   exercise 3: augmentation, preprocessing, base and head in the model
    fine_tuning    exercise 4: what is unfrozen, and the recompile
"""
