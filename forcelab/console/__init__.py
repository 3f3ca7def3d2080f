"""forcelab.console"""
