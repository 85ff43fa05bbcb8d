"""The math grader: extraction, exact and symbolic equivalence, numeric match."""
