"""clinical-tabular: an MLP on the CRC gene-expression data, one CSV pair per site."""
