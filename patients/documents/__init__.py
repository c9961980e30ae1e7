"""Patient documents: uploads, versions, text extraction and search, downloads."""
