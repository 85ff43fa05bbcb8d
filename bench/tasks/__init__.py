"""Problems: the suite loader and the generated suites (arithmetic, chains)."""
