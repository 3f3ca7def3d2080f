"""forcelab.store"""
