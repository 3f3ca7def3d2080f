"""forcelab.report"""
