"""Assignment 1: a better network. See assignments/assignment_01/README.md."""
