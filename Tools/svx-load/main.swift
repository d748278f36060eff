print("svx-load")
