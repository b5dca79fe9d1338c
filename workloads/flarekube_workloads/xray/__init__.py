"""chest-xray-cnn: a compact CNN for 14-label chest X-ray classification (ChestMNIST .npz or NIH folder)."""
