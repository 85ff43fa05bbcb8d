"""The code grader: candidate code run against its tests in the sandbox."""
