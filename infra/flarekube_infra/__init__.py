"""flarekube's infrastructure as Pulumi components: AWS EKS (Network, Cluster) or any cluster (Platform,
Federation). Importing this package imports nothing from Pulumi: the policy pack reuses the pure rules.
"""
