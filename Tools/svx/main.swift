print("svx")
