"""What handlers program against: ``Call``, decisions, conditions, the handler set, results.

This layer never imports a backend.
"""
