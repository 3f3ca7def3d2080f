"""forcelab.interop"""
