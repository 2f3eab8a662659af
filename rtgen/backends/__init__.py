"""rtgen.backends"""
