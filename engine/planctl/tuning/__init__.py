"""planctl.tuning"""
