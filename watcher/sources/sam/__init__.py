"""sources/sam."""
