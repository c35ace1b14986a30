"""planctl.apply"""
