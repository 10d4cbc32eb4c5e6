import ArgumentParser

/// `onecard`: one command for issuing, loading, tapping, clearing and settling.
@main
struct OneCardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onecard",
        abstract: "OneCard: a city one-card (一卡通) e-purse transaction engine.",
        subcommands: [
            KeysCommand.self,
            CardCommand.self,
            PSAMCommand.self,
            ReadersCommand.self,
            APDUCommand.self,
            BalanceCommand.self,
            IssueCommand.self,
            LoadCommand.self,
            RefundCommand.self,
            ReplaceCommand.self,
            TapCommand.self,
            SimulateCommand.self,
            TerminalCommand.self,
            ClearingCommand.self,
            SettleCommand.self,
            ReconcileCommand.self,
            ExceptionsCommand.self,
            ServeCommand.self,
            BenchPCSCCommand.self,
            BenchTapCommand.self,
            BenchUploadCommand.self,
            LoadGenCommand.self,
            FuzzCommand.self,
        ]
    )
}
