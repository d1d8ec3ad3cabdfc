"""Argument lists, rendered files and working-directory contents: pure, nothing is run here."""
