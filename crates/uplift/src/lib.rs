//! Uplift modelling: T-, X-learners and class transformation on boosted trees; Qini, AUUC, uplift@k and budgeted targeting.
