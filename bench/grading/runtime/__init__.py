"""Where slow checks run: worker pools under hard deadlines and the grading
stage beside generation."""
