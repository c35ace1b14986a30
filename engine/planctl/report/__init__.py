"""planctl.report"""
