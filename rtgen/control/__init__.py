"""rtgen.control"""
