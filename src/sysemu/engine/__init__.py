"""Backends: process and thread lifecycle, the wait loop, carrying out decisions."""
