def main() -> None:
    print("kimi-engine")
