print("onecard")
