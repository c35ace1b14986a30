"""planctl.rules"""
