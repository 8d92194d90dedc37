"""The autograder: pytest tests per assignment, graded in points. See README.md."""
