"""planctl.documents"""
