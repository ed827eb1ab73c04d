"""A question-answering bot over a folder of policy text: TF-IDF retrieval with sources."""

__version__ = "0.1.0"
