from trendmine.cli import main

main()
