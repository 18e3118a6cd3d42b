"""Chapter recipes: thin, one per chapter that needs one, named after it (``chNN_<stem>``).

A recipe may import anything in the library; nothing in the library imports a recipe; a chapter
imports its own recipe and the library, never another chapter's recipe.
"""
