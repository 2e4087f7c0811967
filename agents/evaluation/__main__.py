from agents.evaluation.evaluate import main

main()
