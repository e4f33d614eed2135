//! Experiments: deterministic hash assignment with layers and holdouts, and their statistics (SRM, frequentist, Bayesian, sequential, CUPED, multiple testing, power).
