"""Reference solutions, one package per assignment. Absent from the student copy."""
