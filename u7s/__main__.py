from u7s.program import main

main()
