//! Campaign optimiser: offers per customer under channel capacities, budgets and caps, with an LP (Lagrangian) upper bound and the gap.
