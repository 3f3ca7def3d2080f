"""forcelab.analysis"""
