"""forcelab.acquisition"""
