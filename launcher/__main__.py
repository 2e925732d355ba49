from launcher.cli import console

console()
