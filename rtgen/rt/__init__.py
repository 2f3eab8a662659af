"""rtgen.rt"""
